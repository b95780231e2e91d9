-- The lab's sample schema: the traffic generator writes to lab.visits so the server's metrics move.
-- Applied as root on every start of the lab (local provider and provision/provision.sh); re-runnable.
CREATE DATABASE IF NOT EXISTS lab;
CREATE TABLE IF NOT EXISTS lab.visits (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    route VARCHAR(64) NOT NULL,
    at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    INDEX (route)
) ENGINE=InnoDB;
CREATE USER IF NOT EXISTS 'lab'@'localhost' IDENTIFIED BY 'lab';
GRANT SELECT, INSERT, DELETE ON lab.* TO 'lab'@'localhost';
