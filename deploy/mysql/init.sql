-- Runs once, when the mysql container initialises an empty data volume
-- (files in /docker-entrypoint-initdb.d are executed as root).
CREATE DATABASE IF NOT EXISTS orderdb CHARACTER SET utf8mb4;
CREATE DATABASE IF NOT EXISTS productdb CHARACTER SET utf8mb4;

CREATE USER IF NOT EXISTS 'app'@'%' IDENTIFIED BY 'app';
GRANT ALL PRIVILEGES ON orderdb.* TO 'app'@'%';
GRANT ALL PRIVILEGES ON productdb.* TO 'app'@'%';
FLUSH PRIVILEGES;
