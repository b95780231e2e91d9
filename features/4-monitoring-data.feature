Feature: Monitoring data
  A metric monitor on the 5-minute average of my_metric: warning above 500, alert above 800,
  no-data after 10 minutes, and a message that differs per state and e-mails the candidate.

  Background:
    Given the candidate's solution
    And the candidate's monitor payload

  @EX-16
  Scenario: The monitor watches the 5-minute average of my_metric
    Then the monitor's type is "metric alert"
    And the monitor's query averages "my_metric" over the last 5 minutes
    And the monitor's query alerts above 800

  @EX-17 @EX-18
  Scenario: The monitor warns at 500 and alerts at 800
    Then the monitor's warning threshold is 500
    And the monitor's critical threshold is 800

  @EX-19
  Scenario: The monitor notifies when there is no data for 10 minutes
    Then the monitor notifies on no data after 10 minutes

  @EX-20
  Scenario: The monitor e-mails the candidate
    Then the monitor's message notifies an e-mail address

  @EX-21
  Scenario: The message differs for Alert, Warning and No Data
    Then the monitor's message has a well-formed "is_alert" block
    And the monitor's message has a well-formed "is_warning" block
    And the monitor's message has a well-formed "is_no_data" block

  @EX-22
  Scenario: The alert message carries the value and the host's IP
    Then the monitor's "is_alert" block uses "value" and "host.ip"
