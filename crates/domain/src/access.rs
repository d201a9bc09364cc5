//! Who may do what: the caller of a use case, its role, and the rules of ownership.
//!
//! A `customer` places orders for itself and sees and changes only its own orders; an `admin`
//! may do everything (ship and deliver, product and stock writes, operations, every order).
//! Reading the catalogue needs no caller at all. Authentication (who the caller is) is an
//! adapter's job; these rules decide what that caller may do, whichever adapter asked.

use crate::ids::CustomerId;

/// A caller's role, as its credentials state it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Places and manages its own orders.
    Customer,
    /// Runs the shop: every order, the catalogue, stock and operations.
    Admin,
}

impl Role {
    /// The role's name in credentials and documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Admin => "admin",
        }
    }

    /// Parses a role name; unknown names are `None`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "customer" => Some(Role::Customer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a caller asks to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Place an order.
    PlaceOrder,
    /// Read, list and follow the history of orders.
    ReadOrders,
    /// Cancel an order.
    CancelOrder,
    /// Edit an order's shipping address or note.
    EditOrder,
    /// Mark an order shipped.
    ShipOrder,
    /// Mark an order delivered.
    DeliverOrder,
    /// Create and change products, prices and stock.
    ManageCatalog,
    /// Operations: cache warm-up, dead letters.
    Operate,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::PlaceOrder => "place orders",
            Action::ReadOrders => "read orders",
            Action::CancelOrder => "cancel orders",
            Action::EditOrder => "edit orders",
            Action::ShipOrder => "ship orders",
            Action::DeliverOrder => "deliver orders",
            Action::ManageCatalog => "change products or stock",
            Action::Operate => "run operations (cache warm-up, dead letters)",
        })
    }
}

impl Action {
    /// Whether `role` may do this at all (ownership aside).
    pub fn allowed_for(self, role: Role) -> bool {
        match role {
            Role::Admin => true,
            Role::Customer => matches!(
                self,
                Action::PlaceOrder | Action::ReadOrders | Action::CancelOrder | Action::EditOrder
            ),
        }
    }
}

/// The action is not allowed for the caller's role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {role} may not {action}")]
pub struct Forbidden {
    /// The caller's role.
    pub role: Role,
    /// What it asked for.
    pub action: Action,
}

/// An order placed for someone other than the customer asking.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("customer {caller} may not place an order for customer {requested}")]
pub struct NotYourCustomerId {
    /// Who asked.
    pub caller: CustomerId,
    /// Whom the order names.
    pub requested: CustomerId,
}

/// An authenticated caller: its subject (for a customer, the customer it is) and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    subject: CustomerId,
    role: Role,
}

impl Caller {
    /// A caller with this subject and role.
    pub fn new(subject: CustomerId, role: Role) -> Self {
        Self { subject, role }
    }

    /// Who it is.
    pub fn subject(&self) -> &CustomerId {
        &self.subject
    }

    /// Its role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// `Ok` when the role allows `action`.
    pub fn require(&self, action: Action) -> Result<(), Forbidden> {
        if action.allowed_for(self.role) {
            Ok(())
        } else {
            Err(Forbidden {
                role: self.role,
                action,
            })
        }
    }

    /// Whose orders it may see and change: `None` for everyone's (an admin), else its own.
    /// Stores put this in the query itself, so another customer's order is never read.
    pub fn owner_scope(&self) -> Option<&CustomerId> {
        match self.role {
            Role::Admin => None,
            Role::Customer => Some(&self.subject),
        }
    }

    /// The customer a new order belongs to: a customer orders for itself (naming another
    /// customer is refused); an admin orders for the customer it names, or for itself.
    pub fn customer_of_new_order(
        &self,
        requested: Option<CustomerId>,
    ) -> Result<CustomerId, NotYourCustomerId> {
        match (self.role, requested) {
            (_, None) => Ok(self.subject.clone()),
            (Role::Admin, Some(requested)) => Ok(requested),
            (Role::Customer, Some(requested)) if requested == self.subject => Ok(requested),
            (Role::Customer, Some(requested)) => Err(NotYourCustomerId {
                caller: self.subject.clone(),
                requested,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer(name: &str) -> Caller {
        Caller::new(CustomerId::parse(name).unwrap(), Role::Customer)
    }

    fn admin() -> Caller {
        Caller::new(CustomerId::parse("ops").unwrap(), Role::Admin)
    }

    #[test]
    fn a_customer_manages_its_own_orders_only() {
        let alice = customer("alice");
        for action in [
            Action::PlaceOrder,
            Action::ReadOrders,
            Action::CancelOrder,
            Action::EditOrder,
        ] {
            assert_eq!(alice.require(action), Ok(()));
        }
        assert_eq!(alice.owner_scope().map(CustomerId::as_str), Some("alice"));
    }

    #[test]
    fn a_customer_may_not_ship_deliver_manage_the_catalogue_or_operate() {
        let alice = customer("alice");
        for action in [
            Action::ShipOrder,
            Action::DeliverOrder,
            Action::ManageCatalog,
            Action::Operate,
        ] {
            assert_eq!(
                alice.require(action),
                Err(Forbidden {
                    role: Role::Customer,
                    action
                })
            );
        }
    }

    #[test]
    fn an_admin_may_do_everything_on_every_order() {
        let ops = admin();
        for action in [
            Action::PlaceOrder,
            Action::ReadOrders,
            Action::CancelOrder,
            Action::EditOrder,
            Action::ShipOrder,
            Action::DeliverOrder,
            Action::ManageCatalog,
            Action::Operate,
        ] {
            assert_eq!(ops.require(action), Ok(()));
        }
        assert_eq!(ops.owner_scope(), None);
    }

    #[test]
    fn a_customer_orders_for_itself_and_not_for_another() {
        let alice = customer("alice");
        let bob = CustomerId::parse("bob").unwrap();
        assert_eq!(alice.customer_of_new_order(None).unwrap().as_str(), "alice");
        assert_eq!(
            alice
                .customer_of_new_order(Some(CustomerId::parse("alice").unwrap()))
                .unwrap()
                .as_str(),
            "alice"
        );
        let refused = alice.customer_of_new_order(Some(bob.clone())).unwrap_err();
        assert_eq!(refused.requested, bob);
    }

    #[test]
    fn an_admin_orders_for_whom_it_names() {
        let bob = CustomerId::parse("bob").unwrap();
        assert_eq!(
            admin().customer_of_new_order(Some(bob.clone())).unwrap(),
            bob
        );
        assert_eq!(admin().customer_of_new_order(None).unwrap().as_str(), "ops");
    }

    #[test]
    fn roles_parse_from_their_names_only() {
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
        assert_eq!(Role::parse("customer"), Some(Role::Customer));
        assert_eq!(Role::parse("Admin"), None);
        assert_eq!(Role::parse(""), None);
    }
}
