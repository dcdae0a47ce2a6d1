// HSNNSynth module.
