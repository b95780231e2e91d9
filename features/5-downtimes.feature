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

  @live @mailbox
  Rule: In the running lab, the downtimes are scheduled for the monitor and silence it

    Background:
      Given the lab runs the candidate's solution
      And the candidate's monitor is created through the API
      And the candidate's downtimes are scheduled for that monitor

    @EX-24c
    Scenario: Scheduling each downtime e-mails the candidate
      Then the candidate receives an e-mail for each scheduled downtime

    @EX-24a @test-clock @serial
    Scenario: The weekday downtime silences the monitor on Wednesday evening, not on Wednesday morning
      When the lab's clock is at 20:00 on the first Wednesday of the downtimes, in their timezone
      Then the monitor is muted
      When the lab's clock is at 10:00 on the first Wednesday of the downtimes, in their timezone
      Then the monitor is not muted

    @EX-24b @test-clock @serial
    Scenario: The weekend downtime silences the monitor all Saturday and Sunday
      When the lab's clock is at 12:00 on the first Saturday of the downtimes, in their timezone
      Then the monitor is muted
      When the lab's clock is at 23:00 on the first Sunday of the downtimes, in their timezone
      Then the monitor is muted
