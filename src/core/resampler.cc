// placeholder: replaced by the aggregation work
