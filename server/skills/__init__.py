"""Skills: named bundles of tools and prompt context, loaded from YAML manifests."""
