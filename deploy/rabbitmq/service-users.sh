#!/usr/bin/env bash
# Creates the services' RabbitMQ users, or resets their passwords and permissions: safe to run
# on every start of the broker.
#
# Usage: service-users.sh RABBITMQCTL [ARGS...]
#   The rabbitmqctl command reaching the node, e.g. `rabbitmqctl -n rabbit@rabbitmq`.
#
# Environment: ORDER_SERVICE_AMQP_PASSWORD and PRODUCT_SERVICE_AMQP_PASSWORD (required),
# AMQP_VHOST (default /), AMQP_PREFIX (the services' `amqp.prefix`, default empty).
#
# Each user may configure, write and read only names ending in `{service}.events` or
# `{service}.events.*` (its queue, DLQ, retry queues, dead-letter and redelivery exchanges)
# and the shared topic exchange `*shop.events`. The regexes allow any prefix; nothing grants
# the default exchange, which would reach every queue by name.
#
# On the shared exchange, topic permissions let each user publish only the routing keys its
# service produces and bind its queue only to those it consumes. RabbitMQ keys topic
# permissions by exact exchange name, and a user without any on an exchange may use every
# routing key there: they are set here for `${AMQP_PREFIX}shop.events` only, and whoever
# runs the services under another prefix must copy them to that prefix's exchange (the tests
# do, through the management API).
set -euo pipefail

if (($# == 0)); then
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
: "${ORDER_SERVICE_AMQP_PASSWORD:?ORDER_SERVICE_AMQP_PASSWORD is not set}"
: "${PRODUCT_SERVICE_AMQP_PASSWORD:?PRODUCT_SERVICE_AMQP_PASSWORD is not set}"
VHOST="${AMQP_VHOST:-/}"
EXCHANGE="${AMQP_PREFIX:-}shop.events"

ORDER_KEYS='^order\.(created|cancelled|shipped|delivered)$'
PRODUCT_KEYS='^(order\.qty_[a-z_]+|product\.[a-z_]+)$'

# user PASSWORD PUBLISHES CONSUMES
service_user() {
  local user="$1" password="$2" publishes="$3" consumes="$4" own users
  # A service name is letters and `-`: literal in a regex as it stands.
  own="^(.*${user}\\.events(\\..+)?|.*shop\\.events)\$"
  users="$("${CTL[@]}" -q list_users | awk '{ print $1 }')"
  if grep -qx "$user" <<<"$users"; then
    "${CTL[@]}" -q change_password "$user" "$password"
  else
    "${CTL[@]}" -q add_user "$user" "$password"
  fi
  # No tags: no management UI, no policies, nothing beyond the permissions below.
  "${CTL[@]}" -q set_user_tags "$user"
  "${CTL[@]}" -q set_permissions -p "$VHOST" "$user" "$own" "$own" "$own"
  "${CTL[@]}" -q set_topic_permissions -p "$VHOST" "$user" "$EXCHANGE" "$publishes" "$consumes"
  echo "service-users: $user may publish $publishes and bind $consumes on $EXCHANGE" >&2
}

CTL=("$@")
service_user order-service "$ORDER_SERVICE_AMQP_PASSWORD" "$ORDER_KEYS" "$PRODUCT_KEYS"
service_user product-service "$PRODUCT_SERVICE_AMQP_PASSWORD" "$PRODUCT_KEYS" "$ORDER_KEYS"
