/*
 * speculative.cpp — the decode loop (see speculative.h for the algorithm and its invariants).
 *
 * Positions: P = trunk_n_past() is where id_last goes. A step drafts d_1 … d_k for positions
 * P+1 … P+k, verifies [id_last, d_1 … d_k] at P … P+k in one trunk batch (row i's logits are the
 * target's distribution for position P+i+1), accepts a drafts, keeps rows 0 … a in the trunk, and
 * makes the emitted replacement/bonus token the next id_last at P+a+1.
 */
#include "speculative.h"

#include <algorithm>
#include <climits>
#include <string>

#include "failure.h"

namespace mtp {

void DecodeBackend::greedy_step(GreedyStep&) {
    fail(MTP_STATUS_INTERNAL, "greedy_step: this backend has none (greedy_step_max_draft() < 0)");
}

void DecodeBackend::trunk_eval_top(const int32_t* tokens, int32_t n, int32_t logits_from, int32_t k, TokenLogit* top, float* hidden) {
    const size_t V = static_cast<size_t>(n_vocab());
    top_scratch_.resize(static_cast<size_t>(n - logits_from) * V);
    trunk_eval(tokens, n, logits_from, top_scratch_.data(), hidden);
    for (int32_t r = 0; r < n - logits_from; r++) top_logits(&top_scratch_[r * V], static_cast<int32_t>(V), k, top + static_cast<size_t>(r) * k);
}

void DecodeBackend::mtp_eval_top(const int32_t* tokens, const float* hidden_in, int32_t n, int32_t k, TokenLogit* top_last,
                                 float* hidden_last) {
    top_scratch_.resize(static_cast<size_t>(n_vocab()));
    mtp_eval(tokens, hidden_in, n, top_scratch_.data(), hidden_last);
    top_logits(top_scratch_.data(), n_vocab(), k, top_last);
}

void DecodeBackend::sampled_step(SampledStep& s, const SamplerChain& chain) {
    const int32_t P = trunk_n_past(), k = s.k, tk = chain.top_k();
    const size_t E = static_cast<size_t>(n_embd());
    s.drafts.clear();
    s.q.clear();
    s.uniforms_used = 0;
    std::vector<int32_t> batch{s.id_last};
    if (k > 0) {
        const int32_t rows = static_cast<int32_t>(s.mtp_tokens.size());
        if (rows < 1 || mtp_n_past() + rows - 1 != P) fail(MTP_STATUS_INTERNAL, "sampled step: the MTP cache is out of step with the trunk");
        std::vector<TokenLogit> top(static_cast<size_t>(tk));
        std::vector<float> h(E), h_in(E);
        // One MTP row's candidates → q_j → d_j.
        auto draft = [&](const int32_t* tokens, const float* hidden, int32_t n) {
            mtp_eval_top(tokens, hidden, n, tk, top.data(), h.data());
            s.q.push_back(chain.distribution_top(top.data(), tk));
            const std::vector<TokenProb>& items = s.q.back().items();
            if (items.size() > 1 && s.uniforms_used >= static_cast<int32_t>(s.uniforms.size()))
                fail(MTP_STATUS_INTERNAL, "sampled step: more draws than uniforms");
            const int32_t d = items.size() == 1 ? items[0].id
                                                : draw_at(items.data(), static_cast<int32_t>(items.size()), s.uniforms[static_cast<size_t>(s.uniforms_used++)]);
            s.drafts.push_back(d);
            batch.push_back(d);
        };
        draft(s.mtp_tokens.data(), s.mtp_hidden.data(), rows);
        for (int32_t j = 1; j < k; j++) {
            h_in = h;  // chain: the head's own post-norm output feeds the next row
            draft(&batch.back(), h_in.data(), 1);
        }
        mtp_truncate(P + 1);  // the entries drafted from MTP hiddens; P's came from the trunk
    }
    s.target.resize(static_cast<size_t>(k + 1) * static_cast<size_t>(tk));
    s.verify_hidden.resize(s.hidden ? static_cast<size_t>(k + 1) * E : 0);
    trunk_eval_top(batch.data(), k + 1, 0, tk, s.target.data(), s.hidden ? s.verify_hidden.data() : nullptr);
}

SpeculativeDecoder::SpeculativeDecoder(DecodeBackend& backend, const GenerateParams& params)
    : be_(backend), params_(params), chain_(params.sampler), rng_(params.seed) {
    if (params.draft_max < 0) fail(MTP_STATUS_INVALID_ARGUMENT, "draft length: expected >= 0, got %d", params.draft_max);
    if (params.draft_max > 0 && !backend.has_mtp())
        fail(MTP_STATUS_UNSUPPORTED, "draft length %d: the model has no MTP head (speculative decoding needs one)", params.draft_max);
    pending_h_.assign(static_cast<size_t>(backend.n_embd()), 0.0f);
    fused_ = chain_.greedy() && backend.greedy_step_max_draft() >= params.draft_max;
    top_ = !chain_.greedy() && chain_.top_k() > 0 && chain_.top_k() < backend.n_vocab();
}

bool SpeculativeDecoder::is_eog(int32_t t) const {
    return std::find(params_.eog_tokens.begin(), params_.eog_tokens.end(), t) != params_.eog_tokens.end();
}

void SpeculativeDecoder::prompt(const int32_t* tokens, int32_t n) {
    if (prompted_) fail(MTP_STATUS_INTERNAL, "prompt: already given");
    if (n < 1) fail(MTP_STATUS_INVALID_ARGUMENT, "prompt: expected at least 1 token, got %d", n);
    if (be_.trunk_n_past() != 0 || be_.mtp_n_past() != 0) fail(MTP_STATUS_INTERNAL, "prompt: the session is not fresh");
    if (n > be_.n_ctx()) fail(MTP_STATUS_CONTEXT_FULL, "prompt: %d tokens do not fit the context of %d positions", n, be_.n_ctx());
    const bool mtp = params_.draft_max > 0;
    const size_t E = static_cast<size_t>(be_.n_embd());
    if (n > 1) {
        // All but the last token; the last one is id_last and is evaluated by the first step.
        if (mtp) hidden_.resize(static_cast<size_t>(n - 1) * E);
        be_.trunk_eval(tokens, n - 1, n - 1, nullptr, mtp ? hidden_.data() : nullptr);
        if (mtp) {
            // MTP row p is (x_p, h_final(p − 1)); row 0 gets zeros (llama.cpp does the same).
            catchup_tokens_.assign(tokens, tokens + (n - 1));
            catchup_hidden_.assign(E, 0.0f);
            catchup_hidden_.insert(catchup_hidden_.end(), hidden_.begin(), hidden_.begin() + static_cast<std::ptrdiff_t>((n - 2) * E));
            pending_h_.assign(hidden_.begin() + static_cast<std::ptrdiff_t>((n - 2) * E), hidden_.begin() + static_cast<std::ptrdiff_t>((n - 1) * E));
        }
    }
    id_last_ = tokens[n - 1];
    prompted_ = true;
    if (fused_ && mtp) {
        // The fused step expects the MTP cache up to id_last's position and d_1 drafted: run the
        // catch-up batch the first composed step would run.
        catchup_tokens_.push_back(id_last_);
        catchup_hidden_.insert(catchup_hidden_.end(), pending_h_.begin(), pending_h_.end());
        mtp_logits_.resize(static_cast<size_t>(be_.n_vocab()));
        mtp_hidden_.resize(E);
        be_.mtp_eval(catchup_tokens_.data(), catchup_hidden_.data(), static_cast<int32_t>(catchup_tokens_.size()),
                     mtp_logits_.data(), mtp_hidden_.data());
        catchup_tokens_.clear();
        catchup_hidden_.clear();
        draft1_ = SamplerChain::argmax(mtp_logits_.data(), be_.n_vocab());
        h_row_ = 0;
    }
}

int32_t SpeculativeDecoder::next(int32_t* out, int32_t capacity) {
    if (!prompted_) fail(MTP_STATUS_INTERNAL, "next: no prompt");
    while (static_cast<int32_t>(ready_.size()) < capacity && stop_ == StopReason::None) step();
    int32_t n = 0;
    while (n < capacity && !ready_.empty()) {
        out[n++] = ready_.front();
        ready_.pop_front();
    }
    return n;
}

void SpeculativeDecoder::step() {
    const int32_t P = be_.trunk_n_past();
    const int32_t n_ctx = be_.n_ctx();
    if (P >= n_ctx) {
        stop_ = StopReason::ContextFull;
        return;
    }
    const int64_t remaining = params_.n_predict < 0 ? INT64_MAX : params_.n_predict - stats_.n_generated;
    if (remaining <= 0) {
        stop_ = StopReason::Budget;
        return;
    }
    // Never verify past the context or draft tokens the budget could not emit.
    const int32_t k = static_cast<int32_t>(std::max<int64_t>(0, std::min<int64_t>({params_.draft_max, n_ctx - 1 - P, remaining - 1})));
    const bool mtp = params_.draft_max > 0;
    const size_t E = static_cast<size_t>(be_.n_embd());
    AcceptResult acc = fused_ ? fused_draft_and_verify(k) : draft_and_verify(k);
    stats_.n_steps++;
    stats_.n_drafted += k;
    stats_.n_accepted += acc.n_accepted;

    // ---- commit: cut at an end-of-generation token or the budget, keep the matching trunk rows
    size_t cut = acc.tokens.size();
    for (size_t j = 0; j < acc.tokens.size(); j++) {
        if (is_eog(acc.tokens[j]) || static_cast<int64_t>(j) + 1 >= remaining) {
            cut = j + 1;
            break;
        }
    }
    const int32_t keep = std::min<int32_t>(acc.n_accepted, static_cast<int32_t>(cut) - 1) + 1;
    be_.trunk_keep(keep);
    if (fused_ && mtp) {
        // MTP rows 0 … keep − 1 of the step are the committed positions P+1 … P+keep; the next d_1
        // and its h' are row keep − 1's.
        be_.mtp_truncate(P + keep + 1);
        draft1_ = greedy_.mtp_next[static_cast<size_t>(keep - 1)];
        h_row_ = keep - 1;
    } else if (mtp) {
        // committed drafts d_1 … d_{keep−1} (= the first emitted tokens) at P+1 …: their MTP rows
        // take h_final of the row before
        for (int32_t i = 1; i < keep; i++) {
            catchup_tokens_.push_back(acc.tokens[static_cast<size_t>(i - 1)]);
            catchup_hidden_.insert(catchup_hidden_.end(), hidden_.begin() + static_cast<std::ptrdiff_t>((i - 1) * E),
                                   hidden_.begin() + static_cast<std::ptrdiff_t>(i * E));
        }
        pending_h_.assign(hidden_.begin() + static_cast<std::ptrdiff_t>((keep - 1) * E), hidden_.begin() + static_cast<std::ptrdiff_t>(keep * E));
    }
    for (size_t j = 0; j < cut; j++) {
        ready_.push_back(acc.tokens[j]);
        stats_.n_generated++;
    }
    id_last_ = acc.tokens[cut - 1];
    if (is_eog(id_last_)) stop_ = StopReason::EndOfGeneration;
    else if (params_.n_predict >= 0 && stats_.n_generated >= params_.n_predict) stop_ = StopReason::Budget;
}

AcceptResult SpeculativeDecoder::draft_and_verify(int32_t k) {
    if (top_) return sampled_draft_and_verify(k);
    const int32_t P = be_.trunk_n_past();
    const bool mtp = params_.draft_max > 0;
    const size_t V = static_cast<size_t>(be_.n_vocab());
    const size_t E = static_cast<size_t>(be_.n_embd());

    // ---- draft: catch-up rows + (id_last, P, h_final(P − 1)) in one MTP batch, then k − 1 chained rows
    std::vector<int32_t> batch{id_last_};
    std::vector<Distribution> q;
    if (k > 0) {
        catchup_tokens_.push_back(id_last_);
        catchup_hidden_.insert(catchup_hidden_.end(), pending_h_.begin(), pending_h_.end());
        const int32_t rows = static_cast<int32_t>(catchup_tokens_.size());
        if (be_.mtp_n_past() + rows - 1 != P) fail(MTP_STATUS_INTERNAL, "draft: the MTP cache is out of step with the trunk");
        mtp_logits_.resize(V);
        mtp_hidden_.resize(E);
        be_.mtp_eval(catchup_tokens_.data(), catchup_hidden_.data(), rows, mtp_logits_.data(), mtp_hidden_.data());
        catchup_tokens_.clear();
        catchup_hidden_.clear();
        std::vector<float> h_in(E);
        for (int32_t i = 0; i < k; i++) {
            if (i > 0) {
                h_in = mtp_hidden_; // chain: the head's own post-norm output feeds the next row
                be_.mtp_eval(&batch.back(), h_in.data(), 1, mtp_logits_.data(), mtp_hidden_.data());
            }
            q.push_back(chain_.distribution(mtp_logits_.data(), static_cast<int32_t>(V)));
            batch.push_back(chain_.greedy() ? q.back().argmax() : q.back().sample(rng_));
        }
        // Entries drafted from MTP hiddens are dropped; entry P came from the trunk's hidden and stays.
        be_.mtp_truncate(P + 1);
    } else if (mtp) {
        catchup_tokens_.push_back(id_last_);
        catchup_hidden_.insert(catchup_hidden_.end(), pending_h_.begin(), pending_h_.end());
    }

    // ---- verify all k + 1 rows in one trunk pass
    if (mtp) hidden_.resize(static_cast<size_t>(k + 1) * E);
    std::vector<Distribution> p;
    p.reserve(static_cast<size_t>(k + 1));
    logits_.resize(static_cast<size_t>(k + 1) * V);
    be_.trunk_eval(batch.data(), k + 1, 0, logits_.data(), mtp ? hidden_.data() : nullptr);
    for (int32_t i = 0; i <= k; i++) p.push_back(chain_.distribution(&logits_[static_cast<size_t>(i) * V], static_cast<int32_t>(V)));
    const std::vector<int32_t> drafts(batch.begin() + 1, batch.end());
    return speculative_accept(p, q, drafts, rng_);
}

AcceptResult SpeculativeDecoder::sampled_draft_and_verify(int32_t k) {
    SampledStep& s = sampled_;
    const bool mtp = params_.draft_max > 0;
    const size_t E = static_cast<size_t>(be_.n_embd());
    s.id_last = id_last_;
    s.k = k;
    s.hidden = mtp;
    s.mtp_tokens.clear();
    s.mtp_hidden.clear();
    if (mtp) {
        catchup_tokens_.push_back(id_last_);
        catchup_hidden_.insert(catchup_hidden_.end(), pending_h_.begin(), pending_h_.end());
    }
    if (k > 0) {
        // Rows past what the backend's own step takes (after the prompt) go first, as an MTP batch
        // of their own: a row's arithmetic does not depend on its batch.
        const int32_t most = be_.sampled_step_max_draft() + 1, rows = static_cast<int32_t>(catchup_tokens_.size());
        if (most > 0 && rows > most) {
            const int32_t ahead = rows - most;
            std::vector<TokenLogit> top(static_cast<size_t>(chain_.top_k()));
            mtp_hidden_.resize(E);
            be_.mtp_eval_top(catchup_tokens_.data(), catchup_hidden_.data(), ahead, chain_.top_k(), top.data(), mtp_hidden_.data());
            catchup_tokens_.erase(catchup_tokens_.begin(), catchup_tokens_.begin() + ahead);
            catchup_hidden_.erase(catchup_hidden_.begin(), catchup_hidden_.begin() + static_cast<std::ptrdiff_t>(ahead * E));
        }
        s.mtp_tokens.swap(catchup_tokens_);
        s.mtp_hidden.swap(catchup_hidden_);
        catchup_tokens_.clear();
        catchup_hidden_.clear();
    }
    s.uniforms.resize(static_cast<size_t>(k));
    rng_.peek(k, s.uniforms.data());
    be_.sampled_step(s, chain_);
    rng_.skip(s.uniforms_used);
    if (mtp) hidden_.swap(s.verify_hidden);
    const size_t tk = static_cast<size_t>(chain_.top_k());
    std::vector<Distribution> p;
    p.reserve(static_cast<size_t>(k + 1));
    for (int32_t i = 0; i <= k; i++) p.push_back(chain_.distribution_top(&s.target[static_cast<size_t>(i) * tk], chain_.top_k()));
    return speculative_accept(p, s.q, s.drafts, rng_);
}

AcceptResult SpeculativeDecoder::fused_draft_and_verify(int32_t k) {
    GreedyStep& g = greedy_;
    g.id_last = id_last_;
    g.draft1 = draft1_;
    g.h_row = h_row_;
    g.k = k;
    g.mtp = params_.draft_max > 0;
    g.drafts.resize(static_cast<size_t>(k));
    g.target.resize(static_cast<size_t>(k) + 1);
    g.mtp_next.resize(static_cast<size_t>(k) + 1);
    be_.greedy_step(g);
    // Greedy acceptance: drafts while they equal the target's argmax, then the target's token.
    AcceptResult acc{0, {}};
    while (acc.n_accepted < k && g.target[static_cast<size_t>(acc.n_accepted)] == g.drafts[static_cast<size_t>(acc.n_accepted)]) {
        acc.tokens.push_back(g.drafts[static_cast<size_t>(acc.n_accepted)]);
        acc.n_accepted++;
    }
    acc.tokens.push_back(g.target[static_cast<size_t>(acc.n_accepted)]);
    return acc;
}

} // namespace mtp
