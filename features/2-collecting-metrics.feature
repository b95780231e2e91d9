Feature: Collecting metrics
  A database with its integration, and a custom Agent check that submits my_metric,
  a random value between 0 and 1000, once every 45 seconds.

  Background:
    Given the candidate's solution

  @EX-7
  Scenario: The MySQL integration connects as a dedicated monitoring user
    Then the check "mysql" is configured with a username and a password
    And the grants script creates that user
    And the grants script grants it REPLICATION CLIENT, PROCESS and SELECT on performance_schema

  @EX-8
  Scenario: The custom check's code and configuration share one name
    Then checks.d holds the check "my_metric"
    And conf.d configures the check "my_metric"

  @EX-8
  Scenario: The custom check submits my_metric as a gauge between 0 and 1000
    Then the check "my_metric" submits the gauge "my_metric" with randint(0, 1000)

  @EX-9
  Scenario: The custom check runs once every 45 seconds
    Then every instance of the check "my_metric" runs every 45 seconds
    And the check "my_metric" sets no interval under init_config

  @EX-10
  Scenario: The interval changes without touching the check's code
    Then the Python code of the check "my_metric" has no scheduling logic

  @live
  Rule: In the running lab, the integration and the custom check report

    Background:
      Given the lab runs the candidate's solution

    @EX-7
    Scenario: The MySQL integration reports the database's metrics
      Then the host reports the metric "mysql.net.connections"
      And the host reports a metric whose name starts with "mysql.performance."
      And the host reports a metric whose name starts with "mysql.innodb."

    @EX-7 @mysql
    Scenario: The monitoring user reads the server's status and can write nothing
      Then the MySQL user of the check "mysql" can read the server's status
      And the MySQL user of the check "mysql" cannot insert, update, delete, create, alter, drop or grant

    @EX-8
    Scenario: my_metric arrives as a gauge between 0 and 1000
      Then the host reports the metric "my_metric"
      And every point of "my_metric" on the host lies between 0 and 1000
      And the metric "my_metric" is a gauge

    @EX-9 @slow
    Scenario: my_metric arrives once every 45 seconds
      Then consecutive points of "my_metric" on the host are 40 to 60 seconds apart
