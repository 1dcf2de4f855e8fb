"""The platform's pure core: small exact helpers every app shares (UTC instants, decimal text). No Django import."""
