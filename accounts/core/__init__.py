"""The pure core of accounts (no Django): Sign-In with Ethereum messages (:mod:`.siwe`) and the API token
format (:mod:`.tokens`)."""
