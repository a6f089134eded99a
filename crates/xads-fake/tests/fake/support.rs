//! Shared helpers: start a fake, get a token, make a client.
