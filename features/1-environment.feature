Feature: Setting up the environment
  The candidate runs the Agent on a Linux host with host tags in its configuration,
  and with APM switched on for the later sections.

  Background:
    Given the candidate's solution

  @EX-6
  Scenario: The Agent configuration gives the host its tags as a YAML list
    Then the Agent configuration has at least 1 host tag
    And the Agent configuration reads without warnings

  @EX-2
  Scenario: No Datadog key is committed with the solution
    Then no file of the solution contains a Datadog API or application key

  @live
  Rule: In the running lab, the Agent reports the host with its tags

    Background:
      Given the lab runs the candidate's solution

    @EX-5
    Scenario: The Agent reports the host's system metrics
      Then the host reports the metric "system.cpu.user"
      And the host reports the metric "system.mem.total"
      And the host reports the metric "datadog.agent.running"

    @EX-6
    Scenario: The host carries every tag of the Agent configuration
      Then the host is listed with every host tag of the Agent configuration
