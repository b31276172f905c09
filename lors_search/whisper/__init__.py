"""Whisper building blocks without the Hugging Face Hub: the real multilingual tokenizer, the processor,
generation settings, and small model configurations for the embedded benchmark."""
