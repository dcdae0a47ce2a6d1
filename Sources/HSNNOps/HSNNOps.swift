// HSNNOps module.
