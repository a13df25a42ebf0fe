"""Market analytics in the quote consumer: pure figures, per-venue jobs, gauges."""
