// A LangChain.js chain on a model that webgpu-lora serves on this machine: a prompt template,
// then LangChain's OpenAI chat model (ChatOpenAI) pointed at the local server instead of
// api.openai.com, then a parser that keeps the answer's text.
//
//   prompt template  →  ChatOpenAI (baseURL = the local server)  →  StringOutputParser  →  a string
//
// 1. Start the server with a model and, if you like, the LoRA adapter you trained, e.g.
//
//      npx webgpu-lora serve --model ../shared/models/stories260K --adapter ../shared/golden/stories260K-all-linear
//
//    It prints the URL it listens on (http://127.0.0.1:8000/v1 by default; --port picks another,
//    --port 0 a free one). With --api-key <key> (or WEBGPU_LORA_API_KEY) it needs that key.
// 2. Run this file with plain Node from the repository (which has @langchain/openai and
//    @langchain/core installed), giving the topic of the story:
//
//      WEBGPU_LORA_URL=http://127.0.0.1:8000/v1 node examples/langchain-chain.mjs "a cat"
//
//    WEBGPU_LORA_URL is the server's URL (default http://127.0.0.1:8000/v1); WEBGPU_LORA_API_KEY
//    is its key, when it has one (ChatOpenAI needs some key; without one the server ignores it).
//
// It prints the model's answer to "Tell me a story about <topic>.", greedy (temperature 0) and
// at most 48 tokens long: the same text as
//
//      npx webgpu-lora generate --model <model> --adapter <adapter> --input "Tell me a story about a cat." --max-new-tokens 48
//
// because the server puts the chat messages in the form that `generate --input` (and training)
// uses: the model's chat template, or for a base model without one, the plain
// "### Input: ... ### Output:" template.
import { StringOutputParser } from '@langchain/core/output_parsers';
import { ChatPromptTemplate } from '@langchain/core/prompts';
import { ChatOpenAI } from '@langchain/openai';

const baseURL = process.env.WEBGPU_LORA_URL || 'http://127.0.0.1:8000/v1';
const apiKey = process.env.WEBGPU_LORA_API_KEY || 'no-key';
const topic = process.argv[2] ?? 'a cat';

const prompt = ChatPromptTemplate.fromMessages([['human', 'Tell me a story about {topic}.']]);
// Any model name works: the server answers every request with the model it serves.
const model = new ChatOpenAI({ model: 'webgpu-lora', apiKey, configuration: { baseURL }, temperature: 0, maxTokens: 48, maxRetries: 1 });
const chain = prompt.pipe(model).pipe(new StringOutputParser());

const story = await chain.invoke({ topic });
process.stdout.write(`${story}\n`);
