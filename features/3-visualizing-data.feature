Feature: Visualizing data
  A Timeboard created through the API with three graphs: my_metric scoped to the host,
  a database metric with the anomaly function, and my_metric rolled up into one-hour sums.

  Background:
    Given the candidate's solution
    And the candidate's Timeboard payload

  @EX-11 @EX-12
  Scenario: The Timeboard is an API payload for an ordered dashboard
    Then the Timeboard has 3 graphs
    And the Timeboard's layout is "ordered"

  @EX-11a
  Scenario: The first graph shows my_metric scoped over the host
    Then a graph queries "my_metric" scoped to the host

  @EX-11b
  Scenario: The second graph applies the anomaly function to a database metric
    Then a graph applies anomalies with a quoted algorithm to a "mysql." metric

  @EX-11c
  Scenario: The third graph sums my_metric into one-hour buckets
    Then a graph rolls "my_metric" up with "sum" over 3600 seconds

  @live
  Rule: In the running lab, the Timeboard is created through the API and shows data

    Background:
      Given the lab runs the candidate's solution

    @EX-11 @EX-13
    Scenario: The Timeboard created through the API is in the dashboard list
      When the candidate's Timeboard is created through the API
      Then the dashboard list shows the Timeboard
      And the Timeboard read back from the API has 3 graphs

    @EX-13
    Scenario: Every graph of the Timeboard has data over the past 5 minutes
      When the candidate's Timeboard is created through the API
      Then every graph of the Timeboard returns data over the past 5 minutes

    @EX-11b @EX-15
    Scenario: The anomaly graph has a band of expected values
      When the candidate's Timeboard is created through the API
      Then the anomaly graph returns the metric with its upper and lower bounds

    @EX-14 @mailbox
    Scenario: A snapshot of a graph reaches the candidate through the @ notation
      When the candidate's Timeboard is created through the API
      And a snapshot is taken of the Timeboard's first graph over the past hour
      And an event with the snapshot and an @-mention of the candidate is posted
      Then the candidate receives an e-mail with the snapshot's link
      And the snapshot's link opens a PNG image without keys

    @EX-12 @scripts
    Scenario: The solution's script creates the exercise's objects through the API
      When the solution's API script runs against the lab
      Then the script succeeds
      And the dashboard list shows the Timeboard
