"""Stand-ins for the real inference programs that cannot run here (mflux and Qwen3-ASR need Apple
Silicon), behaving like them at their interface: same arguments, same output files, same HTTP."""
