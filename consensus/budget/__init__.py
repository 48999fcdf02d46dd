"""Budgets: annotators per item for an accuracy and a price, and which items get the next vote."""

from .crowd import Crowd, crowd_from_fit
from .next_pass import NextPass, plan_next_pass
from .plan import BudgetPlan, plan_budget

__all__ = ["BudgetPlan", "Crowd", "NextPass", "crowd_from_fit", "plan_budget", "plan_next_pass"]
