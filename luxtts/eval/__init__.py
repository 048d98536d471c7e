"""Evaluation behind the ``[eval]`` extra: WER/CER by speech recognition, speaker similarity, RTF.

Nothing here is imported by ``import luxtts`` or by inference; ``luxtts eval`` loads it when it runs.
"""
