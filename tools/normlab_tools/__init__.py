"""normlab's Python tools: the files a train run leaves (files), the train program's tables
(registry), safetensors (safetensors), the PyTorch reference GPT (reference, dump_check), the
divergence detector (divergence), the comparison report (report), sweeps (sweep) and the studies'
reports (study, scaling). Installed with `python3 -m pip install -e tools`; the scripts beside this
package (tools/*.py) run without installing."""
