"""The integrator: sales systems in, balanced books out, exactly once."""
