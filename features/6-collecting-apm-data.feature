Feature: Collecting APM data
  The exercise's Flask app, instrumented with ddtrace one way only, and a dashboard
  that mixes APM and infrastructure metrics.

  Background:
    Given the candidate's solution

  @EX-25 @EX-29
  Scenario: The instrumented app is part of the solution and serves the three routes
    Then the app serves "/", "/api/apm" and "/api/trace"
    And the app listens on 0.0.0.0 port 5050

  @EX-26
  Scenario: The app is instrumented with ddtrace-run or the middleware, never both
    Then the app is instrumented exactly one way

  @EX-28
  Scenario: A dashboard mixes APM and infrastructure metrics
    Given the candidate's APM and infrastructure dashboard payload
    Then the dashboard queries a "trace." metric
    And the dashboard queries a host or database metric
