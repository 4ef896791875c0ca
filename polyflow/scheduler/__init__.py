"""The scheduler: pure decision modules (dag, schedules, retries) and the tick
that loads state, calls them and writes the transitions."""
