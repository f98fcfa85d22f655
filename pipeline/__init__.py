"""primps.pipeline: the Primitives-PS synthesizer, shard writer, manifests and the WebDataset loader."""
