# The llama.cpp peer's greedy draft-mtp acceptance on a list of prompts, as JSON: for each prompt and
# K, the n_predict / n_drafted / n_accept that llama-speculative-simple prints. Runs on the GPU
# machine after `bash .device/peer-build.sh` (llama.cpp from node-llama-cpp 3.22.1, CUDA build).
# Usage: python3 scripts/peer/draft-mtp-acceptance.py MODEL.gguf PROMPTS.json N_PREDICT K[,K...] > out.json
# Prompts are passed verbatim with -p (speculative-simple tokenizes with special parsing, no BOS).
import json, re, subprocess, sys

model, prompts_path, n_predict, ks = sys.argv[1], sys.argv[2], int(sys.argv[3]), [int(k) for k in sys.argv[4].split(",")]
prompts = json.load(open(prompts_path))
B = "/tmp/lcpp/build/bin"
runs = []
for i, prompt in enumerate(prompts):
    for k in ks:
        out = subprocess.run([f"{B}/llama-speculative-simple", "-m", model, "-p", prompt, "-n", str(n_predict), "--temp", "0",
                              "-ngl", "99", "--spec-type", "draft-mtp", "--spec-draft-n-max", str(k)],
                             capture_output=True, text=True).stderr
        def num(key):
            m = re.search(rf"\b{key}\s*=\s*([0-9]+)", out)
            return int(m.group(1)) if m else None
        runs.append({"prompt": i, "k": k, "n_predict": num("n_predict"), "n_drafted": num("n_drafted"), "n_accept": num("n_accept")})
        if runs[-1]["n_drafted"] is None:
            sys.stderr.write(out[-3000:])
            sys.exit(f"prompt {i} k {k}: could not parse the output")
json.dump({"model": model.split("/")[-1], "n_predict": n_predict, "runs": runs}, sys.stdout, indent=1)
