"""Chat surfaces: each turns its requests into use-case calls and views into its markup."""
