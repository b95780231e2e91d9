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

  @live
  Rule: In the running lab, the traced app reports one service with three resources

    Background:
      Given the lab runs the candidate's solution

    @EX-25
    Scenario: Each route of the app becomes a resource of one service
      When each of the app's routes "/", "/api/apm" and "/api/trace" is requested 5 times
      Then the spans of those requests reach the backend under one service
      And that service has the resources "GET /", "GET /api/apm" and "GET /api/trace"

    @EX-25
    Scenario: The requests are counted in the service's trace metrics
      When each of the app's routes "/", "/api/apm" and "/api/trace" is requested 5 times
      Then the service's "hits" trace metric counts every one of those requests

    @EX-28
    Scenario: The APM and infrastructure dashboard shows both kinds of data and can be shared
      When the candidate's APM and infrastructure dashboard is created through the API
      Then the dashboard's APM widgets and its infrastructure widgets both return data
      And a public link to the dashboard opens without keys
