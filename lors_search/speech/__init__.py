"""Synthetic multilingual speech for the embedded benchmark: eSpeak NG voices reading number-based content
generated with num2words in the LoRS-Merging paper's ten languages, with English translations.

Modules (import them directly; this package imports nothing heavy so synthesis workers start fast):
`content` (forms, content keys, rendering), `spec` (`CorpusSpec`), `corpus` (`build_corpus`),
`features` (`load_features`, `features_for`), `espeak` (ctypes binding), `audio` (resampling, noise).
"""
