"""Exports of trained jobs: merged model or adapter, as a job of kind "export"; download; catalog entry."""
