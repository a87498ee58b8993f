"""The shop itself: budgets, comparisons, carts, orders and back-in-stock requests."""
