"""The emulated instance's data: leads, fields, assets, activities, partitions, bulk queues, and saving it all."""
