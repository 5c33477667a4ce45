"""HTTP front ends of the router: each translates one wire format, nothing more."""
