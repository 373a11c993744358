// The berthd API as the console uses it: see client.ts.
export * from './client';
export * from './errors';
export * from './types';
