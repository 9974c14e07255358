"""Unit tests of the Procore and ExakTime clients and the HTTP layer, HTTP mocked with `responses`."""
