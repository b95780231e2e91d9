Feature: The write-up
  The candidate answers every question in answers.md, bonus questions included.

  Background:
    Given the candidate's solution

  @EX-1 @EX-2
  Scenario: answers.md addresses every exercise item
    Then answers.md mentions every item from EX-1 to EX-30

  @EX-10 @EX-15 @EX-27 @EX-30
  Scenario: The bonus and final questions are answered
    Then answers.md answers "EX-10", "EX-15", "EX-27" and "EX-30" in more than one sentence each
