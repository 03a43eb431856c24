"""The Hugging Face Hub and the reference's download servers: repo ids, dataset splits, cards, file fetches, downloads."""
