#include <stdio.h>
#include <stddef.h>
#include "llama.h"
#define O(s,f) printf("%s.%s %zu\n", #s, #f, offsetof(struct s, f))
int main(){
printf("model_params %zu\n", sizeof(struct llama_model_params));
O(llama_model_params,n_gpu_layers); O(llama_model_params,vocab_only); O(llama_model_params,check_tensors);O(llama_model_params,load_mtp);
printf("context_params %zu\n", sizeof(struct llama_context_params));
O(llama_context_params,n_ctx);O(llama_context_params,n_batch);O(llama_context_params,n_ubatch);O(llama_context_params,n_seq_max);O(llama_context_params,n_threads);O(llama_context_params,n_threads_batch);O(llama_context_params,flash_attn_type);O(llama_context_params,type_k);O(llama_context_params,type_v);O(llama_context_params,embeddings);O(llama_context_params,no_perf);O(llama_context_params,n_outputs_max);
printf("batch %zu\n", sizeof(struct llama_batch));
O(llama_batch,token);O(llama_batch,embd);O(llama_batch,pos);O(llama_batch,n_seq_id);O(llama_batch,seq_id);O(llama_batch,logits);
printf("GGML_TYPE_F32 %d\n", GGML_TYPE_F32);
}
