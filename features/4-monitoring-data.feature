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

  @live @test-clock @mailbox @serial
  Rule: In the running lab, the monitor changes state and e-mails each state's message

    Background:
      Given the lab runs the candidate's solution
      And the candidate's monitor is created through the API

    @EX-16 @EX-18 @EX-20 @EX-22 @EX-23
    Scenario: Above 800 for 5 minutes, the monitor alerts and e-mails the value and the host's IP
      When "my_metric" on the host stays at 900 for 5 minutes
      Then the monitor is in the "Alert" state
      And the candidate receives the monitor's "Alert" e-mail
      And that e-mail says "900" and the host's IP address

    @EX-17 @EX-21
    Scenario: Between 500 and 800 for 5 minutes, the monitor warns with the warning message
      When "my_metric" on the host stays at 650 for 5 minutes
      Then the monitor is in the "Warn" state
      And the candidate receives the monitor's "Warn" e-mail
      And that e-mail differs from the alert message

    @EX-19 @EX-21
    Scenario: Without my_metric for 10 minutes, the monitor reports No Data
      When "my_metric" on the host stays at 100 for 5 minutes
      And "my_metric" on the host stops reporting for 11 minutes
      Then the monitor is in the "No Data" state
      And the candidate receives the monitor's "No Data" e-mail
