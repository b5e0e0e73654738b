"""Item text: pretrained Hugging Face models and the tokenizer stage that feeds them."""
