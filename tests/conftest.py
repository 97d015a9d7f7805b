pytest_plugins = ["tests.synapse_fixtures"]
