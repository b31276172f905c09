"""lors_search: distributed search for LoRS-Merging of Whisper language experts.

LoRS-Merging: Zhao, Sun and Zhang, "Low-Rank and Sparse Model Merging for Multi-Lingual Speech
Recognition and Translation", arXiv 2502.17380.
"""

__version__ = "0.1.0"
