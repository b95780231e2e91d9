Feature: Scheduling downtimes
  Two recurring downtimes for the monitor: weekday nights from 7pm to 9am, and the whole weekend.
  Each notifies the candidate when it is scheduled.

  Background:
    Given the candidate's solution
    And the candidate's downtime payloads

  @EX-24 @EX-24a
  Scenario: A downtime silences the monitor from 7pm to 9am on weekdays
    Then a downtime recurs on "MO,TU,WE,TH,FR" from 19:00 for 14 hours

  @EX-24 @EX-24b
  Scenario: A downtime silences the monitor all weekend
    Then a downtime covers Saturday 00:00 to Monday 00:00 at least

  @EX-24
  Scenario: Both downtimes target the monitor, not everything, in an explicit timezone
    Then every downtime targets the monitor by id or by monitor tags
    And every downtime names its timezone

  @EX-24c
  Scenario: Scheduling a downtime e-mails the candidate
    Then every downtime's message notifies an e-mail address
