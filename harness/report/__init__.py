"""Reading results back: leaderboard reports and nightly regression checks."""
