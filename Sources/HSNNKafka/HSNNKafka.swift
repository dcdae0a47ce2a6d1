// HSNNKafka module.
