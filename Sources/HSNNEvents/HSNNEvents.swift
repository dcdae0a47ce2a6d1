// HSNNEvents module.
