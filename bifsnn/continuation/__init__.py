"""General numerical continuation engine (equilibria, codim-2 curves; cycles in ``periodic``)."""
