export { AstraClient, type AstraClientOptions, type ChatEvent } from "./client.js";
