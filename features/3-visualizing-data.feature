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
