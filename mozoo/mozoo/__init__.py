"""mozoo: the model-organism zoo of datasets and evaluation tasks."""
